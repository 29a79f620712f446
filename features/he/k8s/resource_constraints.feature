# language: he
@k8s @limits @destructive @fault:kubernetes @scope:k8s-limits-resources @lang-he
תכונה: אילוצי משאבים
  כשלאשכול נגמר מה שחקירה צריכה, החקירה הבאה מסורבת בבירור או מדווחת, במילים של
  האשכול עצמו, למה היא ממתינה; החקירות שכבר פתוחות אינן מושפעות.

  רקע:
    בהינתן Focus Server עונה
    וגם נפתחת חקירה חיה
    וגם ה-Pod של החקירה במצב Running בתוך זמן היעד

  @id:k8s-quota-refuses @exclusive:gpu
  תרחיש: ResourceQuota שלא משאירה פרוסת GPU מסרבת בבירור לחקירה הבאה
    בהינתן ResourceQuota לא משאירה מקום לפרוסת GPU נוספת
    כאשר מתבקשת חקירה חיה
    אז החקירה מסורבת בבירור, על ידי ה-API או על ידי ה-Job שלה בציון ה-quota
    וגם החקירה הקודמת עדיין במצב Running

  @id:k8s-gpu-exhausted @exclusive:gpu @resources
  תרחיש: כשכל פרוסות ה-GPU תפוסות, ה-Pod של החקירה הבאה אומר למה הוא ממתין
    בהינתן כל פרוסות ה-GPU הפנויות תפוסות
    כאשר מתבקשת חקירה חיה
    אז ה-Pod של החקירה מדווח FailedScheduling בציון פרוסת ה-GPU בתוך זמן היעד
    וגם החקירה הקודמת עדיין במצב Running

  @id:k8s-nodes-cordoned @exclusive:nodes
  תרחיש: כשכל ה-Nodes עברו cordon, ה-Pod של החקירה הבאה אומר שאין לו היכן להיות מתוזמן
    בהינתן כל ה-Nodes עברו cordon
    כאשר מתבקשת חקירה חיה
    אז ה-Pod של החקירה מדווח FailedScheduling בציון Nodes שאינם ניתנים לתזמון בתוך זמן היעד
    וגם החקירה הקודמת עדיין במצב Running

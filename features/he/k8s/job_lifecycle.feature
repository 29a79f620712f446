# language: he
@k8s @lifecycle @scope:k8s-job-lifecycle @lang-he
תכונה: מחזור החיים של ה-Job של חקירה
  כל חקירה ש-Focus Server פותח היא Job אחד של Kubernetes, עם Job הניקוי שלו
  ו-Service מסוג NodePort, ב-namespace של Focus Server. החבילה עוקבת אחרי חקירה
  עד: ה-Job שלה פתוח, ה-Pod שלה במצב Running, פורט הזרם שלה מוקצה וה-stream URL
  שלה מוחזר. מה שרץ בתוך ה-Job מחוץ לתחום.

  רקע:
    בהינתן Focus Server עונה

  @id:k8s-live-investigation-opens @live
  תרחיש: חקירה חיה פותחת את ה-Job, ה-Pod ופורט הזרם שלה
    כאשר נפתחת חקירה חיה
    אז התשובה מכילה job id, פורט זרם ו-stream URL
    וגם ה-Job של החקירה קיים בשמו המדויק
    וגם ה-Pod של החקירה במצב Running בתוך זמן היעד
    וגם ה-Service של החקירה חושף את פורט הזרם כ-NodePort שלו

  @id:k8s-job-spec
  תרחיש: ה-Jobs של החקירה נכשלים מהר ומנוקים אחרי שהם מסתיימים
    כאשר נפתחת חקירה חיה
    אז ל-Jobs של החקירה יש מדיניות ה-restart והשמירה הנדרשת
    וגם ה-Pod של החקירה שייך ל-Job שלה

  @id:k8s-job-active
  תרחיש: ה-Job של חקירה רצה פעיל ללא מצב סופי
    כאשר נפתחת חקירה חיה
    אז ה-Job של החקירה פעיל ללא מצב סופי

  @id:k8s-job-fails-when-pod-lost @destructive
  תרחיש: חקירה שה-Pod שלה אבד נראית כנכשלת, עם הסיבה
    כאשר נפתחת חקירה חיה
    וגם ה-Pod של החקירה נמחק
    אז ה-Job של החקירה נכשל עם הסיבה "BackoffLimitExceeded" בתוך זמן היעד

  @id:k8s-cancel-removes-everything
  תרחיש: ביטול חקירה מסיר את ה-Jobs, ה-Service וה-Pods שלה
    כאשר נפתחת חקירה חיה
    אז ה-Job של החקירה קיים בשמו המדויק
    כאשר החקירה הזו מבוטלת
    אז לא נותר אף אחד מהאובייקטים שלה

  @id:k8s-idle-removed @slow
  תרחיש: חקירה שאף אחד לא מתחבר אליה מוסרת על ידי ה-cleanup job שלה
    כאשר נפתחת חקירה חיה
    אז ה-Pod של החקירה במצב Running בתוך זמן היעד
    וגם כשאף לקוח אינו מחובר, לא נותר אף אחד מהאובייקטים שלה בתוך זמן היעד להסרה בחוסר פעילות

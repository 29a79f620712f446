# language: he
@k8s @limits @destructive @slow @lang-he
תכונה: מגבלות המערכת
  דרישת PNDS היא 200 חקירות במקביל. התרחיש נשאר גם כשסביבה אינה עומדת בכך,
  ואז הוא אומר עד כמה הגיעה ומדוע נעצרה. שאר המגבלות: השהיה תחת עומס, לקוחות
  רבים בבת אחת, מיצוי פורטי הזרם ומיצוי כתובות ה-IP של ה-Pods.

  רקע:
    בהינתן Focus Server עונה

  @id:k8s-200-in-parallel @exclusive:capacity @exclusive:gpu @scope:k8s-limits-parallel-jobs
  תרחיש: החקירות במספר הנדרש רצות במקביל
    כאשר נפתחות במקביל חקירות חיות במספר הנדרש
    אז כל אחת מהן במצב Running עם פורט זרם נגיש
    וגם ה-job ids ופורטי הזרם שלהן שונים כולם

  @id:k8s-latency-slo @exclusive:capacity @network @scope:k8s-limits-network
  תרחיש: השהיות configure ועליית Pod נשארות בתוך הגבולות
    כאשר נפתחות חקירות חיות כגודל מדגם ההשהיה
    אז ה-p99 של השהיית configure בתוך הגבול של הפרופיל
    וגם ה-p99 של עליית ה-Pod בתוך הגבול של הפרופיל

  @id:k8s-concurrent-clients @exclusive:capacity @network @scope:k8s-limits-network
  תרחיש: לקוחות רבים ששולחים configure באותו רגע מקבלים כולם שירות
    כאשר כל אחד מהלקוחות, במספר המוגדר, פותח חקירה חיה באותו רגע
    אז החקירה של כל לקוח התקבלה
    וגם ה-job ids ופורטי הזרם שלהן שונים כולם

  @id:k8s-stream-ports-exhausted @exclusive:ports @network @ports @fault:kubernetes @scope:k8s-limits-resources
  תרחיש: כשכל פורטי הזרם תפוסים, החקירה הבאה מסורבת בצורה נקייה
    בהינתן כל פורט זרם פנוי מוחזק על ידי Service אחר
    כאשר מתבקשת חקירה חיה
    אז הבקשה מסורבת עם 503 והודעה "No free stream port"
    וגם לא נוצרו אובייקטים של חקירה

  @id:k8s-pod-ips-exhausted @network @fault:sandbox @exclusive:nodes @scope:k8s-limits-network
  תרחיש: כשלא נותרה כתובת IP ל-Pods, ה-Pod של החקירה הבאה מדווח מדוע אינו יכול לעלות
    בהינתן לא נותרה כתובת IP ל-Pods באף Node
    כאשר מתבקשת חקירה חיה
    אז ה-Pod של החקירה מדווח FailedCreatePodSandBox בציון שאין כתובות IP בתוך זמן היעד

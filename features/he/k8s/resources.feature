# language: he
@k8s @resources @lang-he @readonly
תכונה: משאבי חקירה
  ה-Job של חקירה מקבל כל משאב שהוא צריך כדי להיפתח: פרוסת GPU אחת, הקצאת
  זיכרון, גישה לאחסון ההקלטות ופורט זרם.

  רקע:
    בהינתן Focus Server עונה

  @id:k8s-gpu-slice @scope:k8s-resources-gpu
  תרחיש: פרוסת GPU אחת מבוקשת ומוגבלת
    כאשר נפתחת חקירה חיה
    אז החקירה מבקשת פרוסת GPU אחת בדיוק ומוגבלת לה

  @id:k8s-memory @scope:k8s-resources-memory
  תרחיש: זיכרון מבוקש ומוגבל
    כאשר נפתחת חקירה חיה
    אז לחקירה יש בקשת זיכרון ומגבלת זיכרון

  @id:k8s-storage @scope:k8s-resources-storage
  תרחיש: אחסון ההקלטות מחובר
    כאשר נפתחת חקירה חיה
    אז החקירה מחברת את אחסון ההקלטות

  @id:k8s-stream-port-reachable @network @scope:k8s-resources-ports
  תרחיש: פורט הזרם מוקצה כ-NodePort ומקבל TCP
    כאשר נפתחת חקירה חיה
    אז ה-Service של החקירה חושף את פורט הזרם כ-NodePort שלו
    וגם פורט הזרם מקבל חיבורי TCP בכתובת הזרם בתוך זמן היעד

# language: he
@system @errors @lang-he
תכונה: תרחישי שגיאה
  מה המערכת עושה כשחסרים לה קלטים: אין זרם חי, אין דאטה היסטורי, פורט זרם כבר
  תפוס. כל שגיאה ברורה, אינה משאירה דבר חצי-בנוי, והמערכת מתאוששת כשהסיבה
  נעלמת.

  רקע:
    בהינתן Focus Server עונה

  @id:system-no-live-stream @exclusive:fiber @fault:live-stream @destructive @live @scope:system-errors-no-live
  תרחיש: בלי זרם חי חקירה חיה מסורבת, והמערכת מתאוששת
    בהינתן הזרם החי מנותק
    כאשר מתבקשת חקירה חיה
    אז הבקשה מסורבת עם 503 והודעה "Live stream unavailable"
    וגם לא נוצרו אובייקטים של חקירה
    וגם ה-live metadata מציין שהזרם החי אינו זמין
    כאשר הזרם החי מחובר מחדש
    וגם נפתחת חקירה חיה
    אז ה-Pod של החקירה במצב Running בתוך זמן היעד

  @id:system-no-historic-data @exclusive:fiber @exclusive:recordings @fault:sandbox @destructive @historic @scope:system-errors-no-historic
  תרחיש: בלי דאטה היסטורי חקירה היסטורית מסורבת
    בהינתן אין בסביבה הקלטות
    כאשר מתבקשת חקירה היסטורית עבור היום האחרון
    אז הבקשה מסורבת עם 404 והודעה "No recording found in given time range"
    וגם לא נוצרו אובייקטים של חקירה

  @id:system-port-taken @exclusive:ports @fault:kubernetes @destructive @ports @scope:system-errors-port-taken
  תרחיש: פורט זרם תפוס מדולג ולא נשאר דבר חצי-בנוי
    בהינתן Service אחר מחזיק את פורט הזרם שהשרת היה בוחר בפעם הבאה
    כאשר נפתחות חקירות חיות עד שאחת מהן נענית בפורט שמעבר לפורט המוחזק
    אז אף חקירה לא קיבלה את הפורט המוחזק
    וגם ה-Jobs וה-Service של החקירה קיימים כולם
    וגם ה-Service של החקירה חושף את פורט הזרם כ-NodePort שלו

# language: he
@api @ip @scope:api-validation-ip @lang-he @readonly
תכונה: אימות כתובת הזרם
  הפירוש שלנו ל"אימות כתובת IP": ה-stream URL שמוחזר הוא http:// וכתובת IP
  תקינה של Node במצב Ready באשכול, ופורט הזרם מקבל שם חיבור TCP (חבילת הבדיקות לעולם
  אינה מדברת gRPC ואינה שולחת בתים). לפני כל דבר אחר, הכתובות המוגדרות של
  הסביבה נפתרות ועונות.

  רקע:
    בהינתן הכתובות המוגדרות של הסביבה נפתרות ועונות

  @id:api-ip-stream-url-is-ready-node
  תרחיש: ה-stream URL הוא הכתובת של Node במצב Ready
    כאשר נפתחת חקירה חיה
    אז ה-stream URL הוא http:// וכתובת ה-IP של Node במצב Ready

  @id:api-ip-stream-port-reachable
  תרחיש: פורט הזרם מקבל TCP בכתובת הזרם
    כאשר נפתחת חקירה חיה
    אז פורט הזרם מקבל חיבורי TCP בכתובת הזרם בתוך זמן היעד

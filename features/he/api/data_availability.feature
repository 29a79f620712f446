# language: he
@api @lang-he @readonly
תכונה: זמינות דאטה חי ודאטה היסטורי
  חקירה חיה נפתחת רק כשהזרם החי זמין; חקירה היסטורית רק עבור חלון שיש בו
  הקלטות. מה ש-/recordings_in_time_range מפרט תואם למה ש-configure מקבל: לחלון
  החופף הקלטה, אפילו חלקית, יש דאטה.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-live-data-opens @live @scope:api-validation-live-data
  תרחיש: יש דאטה חי: חקירה חיה נפתחת בלי טווח זמנים
    בהינתן הזרם החי זמין
    כאשר נפתחת חקירה live בתצוגת multichannel
    אז החקירה נפתחת
    וגם ה-Pod של החקירה אינו נושא טווח זמנים

  @id:api-recordings-agree-recorded @historic @scope:api-validation-historic-data
  תרחיש: החלון המוקלט מופיע ומתקבל
    אז ההקלטות הרשומות עבור החלון המוקלט הן some
    כאשר מתבקשת חקירה היסטורית עבור החלון המוקלט
    אז החקירה נפתחת

  @id:api-recordings-agree-partial @historic @scope:api-validation-historic-data
  תרחיש: חלון החופף חלקית להקלטה מופיע ומתקבל
    אז ההקלטות הרשומות עבור חלון החופף חלקית להקלטה הן some
    כאשר מתבקשת חקירה היסטורית עבור חלון החופף חלקית להקלטה
    אז החקירה נפתחת

  @id:api-recordings-agree-empty @historic @scope:api-validation-historic-data
  תרחיש: חלון שבין ההקלטות אינו מופיע ואינו מתקבל
    אז ההקלטות הרשומות עבור החלון שבין ההקלטות הן none
    כאשר מתבקשת חקירה היסטורית עבור החלון שבין ההקלטות
    אז הבקשה מסורבת עם 404 והודעה "No recording found in given time range"
    וגם לא נוצרו אובייקטים של חקירה

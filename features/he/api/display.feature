# language: he
@api @display @scope:api-config-display @lang-he @readonly
תכונה: אימות פרמטרי תצוגה
  גובה הקנבס חייב להיות חיובי. תצוגות multichannel ו-singlechannel צריכות משך
  ציר זמן חיובי; לתצוגת waterfall אין משך ואין טווח תדרים. לשדות נוספים לא מוכרים
  המערכת מתעלמת.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-display-rejected
  תבנית תרחיש: פרמטרי תצוגה שמפרים את הכללים נדחים (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת <view> עם <changes>
    אז הבקשה נדחית עם <status> ומציינת את "<field>"
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case                  | view         | changes                                | status | field                   |
      | height-0              | multichannel | displayInfo.height = 0                 | 400    | displayInfo             |
      | height-negative       | multichannel | displayInfo.height = -1                | 400    | displayInfo             |
      | height-missing        | multichannel | displayInfo = {}                       | 422    | displayInfo             |
      | display-info-missing  | multichannel | displayInfo = absent                   | 422    | displayInfo             |
      | height-not-a-number   | multichannel | displayInfo.height = "tall"            | 422    | displayInfo             |
      | duration-0            | multichannel | displayTimeAxisDuration = 0            | 400    | displayTimeAxisDuration |
      | duration-negative     | multichannel | displayTimeAxisDuration = -1           | 400    | displayTimeAxisDuration |
      | duration-missing      | multichannel | displayTimeAxisDuration = absent       | 400    | displayTimeAxisDuration |
      | duration-null         | multichannel | displayTimeAxisDuration = null         | 400    | displayTimeAxisDuration |
      | waterfall-duration    | waterfall    | displayTimeAxisDuration = 30           | 400    | displayTimeAxisDuration |
      | waterfall-frequency   | waterfall    | frequencyRange = {"min": 0, "max": 100} | 400   | frequencyRange          |

  @id:api-display-accepted
  תבנית תרחיש: פרמטרי תצוגה בגבולותיהם פותחים חקירה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת multichannel עם <changes>
    אז החקירה נפתחת

    דוגמאות:
      | case          | changes                     |
      | height-1      | displayInfo.height = 1      |
      | duration-1    | displayTimeAxisDuration = 1 |
      | unknown-field | colourMap = "viridis"       |

# language: he
@api @channels @scope:api-config-channels @lang-he @readonly
תכונה: אימות טווח ערוצים
  בקשת configure מציינת טווח ערוצים כולל. הוא חייב להיות בתוך טווח הערוצים
  החי ש-GET /channels מדווח, להכיל לכל היותר 2222 ערוצים, ולהיות ערוץ אחד בדיוק
  בתצוגת singlechannel. כל דבר אחר נדחה, עם שם השדה, לפני שנוצר אובייקט
  Kubernetes כלשהו.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-channels-rejected
  תבנית תרחיש: טווח ערוצים שמפר את הכללים נדחה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת <view> עם <changes>
    אז הבקשה נדחית עם <status> ומציינת את "<field>"
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case                | view          | changes                                             | status | field    |
      | min-below-lowest    | multichannel  | channels.min = lowest - 1                           | 400    | channels |
      | max-above-highest   | multichannel  | channels.min = highest - 10; channels.max = highest + 1 | 400 | channels |
      | negative            | multichannel  | channels.min = -10; channels.max = 50               | 400    | channels |
      | min-above-max       | multichannel  | channels.min = 61; channels.max = 60                | 400    | channels |
      | count-2223          | multichannel  | channels.min = lowest; channels.max = lowest + 2222 | 400    | channels |
      | single-two-channels | singlechannel | channels.min = 7; channels.max = 8                  | 400    | channels |
      | missing             | multichannel  | channels = absent                                   | 422    | channels |
      | min-not-a-number    | multichannel  | channels.min = "one"                                | 422    | channels |
      | max-fractional      | multichannel  | channels.max = 60.5                                 | 422    | channels |

  @id:api-channels-accepted
  תבנית תרחיש: טווח ערוצים בתוך הכללים פותח חקירה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת <view> עם <changes>
    אז החקירה נפתחת

    דוגמאות:
      | case               | view          | changes                                             |
      | lowest-only        | multichannel  | channels.min = lowest; channels.max = lowest        |
      | up-to-highest      | multichannel  | channels.min = highest - 10; channels.max = highest |
      | count-2222         | multichannel  | channels.min = lowest; channels.max = lowest + 2221 |
      | single-one-channel | singlechannel | channels.min = lowest; channels.max = lowest        |

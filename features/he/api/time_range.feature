# language: he
@api @time-range @historic @scope:api-validation-time-range @lang-he @readonly
תכונה: אימות טווח זמנים
  חקירה היסטורית מציינת חלון בשניות epoch: שני הגבולות או אף אחד מהם (אף אחד
  פירושו חי), זמן התחלה לפני זמן סיום, לא שלילי, לא בעתיד, וחלון שיש בו הקלטות.
  החלונות נמצאים דרך /recordings_in_time_range ולעולם אינם קבועים בקוד, כך
  שאותם תרחישים רצים בכל סביבה.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-time-range-rejected
  תבנית תרחיש: טווח זמנים שמפר את הכללים נדחה (<case>)
    כאשר מתבקשת חקירה היסטורית בתצוגת multichannel עם <changes>
    אז הבקשה נדחית עם 400 ומציינת את "start_time" or "end_time"
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case          | changes                                         |
      | reversed      | start_time = rec.end; end_time = rec.start      |
      | equal         | end_time = rec.start                            |
      | negative      | start_time = -100; end_time = -1                |
      | only-start    | end_time = null                                 |
      | only-end      | start_time = null                               |
      | future        | start_time = now + 3600; end_time = now + 7200  |
      | future-day    | start_time = now + 86400; end_time = now + 86700 |

  @id:api-time-range-malformed
  תבנית תרחיש: חלון שאינו נתון בשניות epoch שלמות נדחה (<case>)
    כאשר מתבקשת חקירה היסטורית בתצוגת multichannel עם <changes>
    אז הבקשה נדחית עם <status> ומציינת את <fields>
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case         | changes                                                  | status | fields                     |
      | string       | start_time = "yesterday"                                 | 422    | "start_time"               |
      | fractional   | end_time = rec.end + 0.5                                 | 422    | "end_time"                 |
      | milliseconds | start_time = rec.start * 1000; end_time = rec.end * 1000 | 400    | "start_time" or "end_time" |

  @id:api-time-range-no-recording
  תרחיש: חלון בלי הקלטות מסורב ואינו מפעיל דבר
    כאשר מתבקשת חקירה היסטורית עבור החלון שבין ההקלטות
    אז הבקשה מסורבת עם 404 והודעה "No recording found in given time range"
    וגם לא נוצרו אובייקטים של חקירה

  @id:api-time-range-recorded-window
  תרחיש: חלון עם הקלטות פותח חקירה היסטורית
    כאשר מתבקשת חקירה היסטורית עבור החלון המוקלט
    אז החקירה נפתחת
    וגם ה-Pod של החקירה נושא את טווח הזמנים המבוקש

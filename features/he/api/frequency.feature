# language: he
@api @frequency @scope:api-config-frequency @lang-he @readonly
תכונה: אימות טווח תדרים
  טווח התדרים של תצוגת multichannel או singlechannel הוא חובה ועליו לקיים
  0 ≤ min < max ≤ Nyquist, כאשר Nyquist הוא חצי מקצב הדגימה (PRR) של הדאטה
  המבוקש: של הזרם החי, מתוך GET /live_metadata.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-frequency-rejected
  תבנית תרחיש: טווח תדרים שמפר את הכללים נדחה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת multichannel עם <changes>
    אז הבקשה נדחית עם <status> ומציינת את "frequencyRange"
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case           | changes                                                   | status |
      | above-nyquist  | frequencyRange.max = nyquist + 1                          | 400    |
      | negative-min   | frequencyRange.min = -1                                   | 400    |
      | min-equals-max | frequencyRange.min = 500; frequencyRange.max = 500        | 400    |
      | min-above-max  | frequencyRange.min = 600; frequencyRange.max = 500        | 400    |
      | missing        | frequencyRange = absent                                   | 400    |
      | null           | frequencyRange = null                                     | 400    |
      | not-a-number   | frequencyRange.max = "high"                               | 422    |

  @id:api-frequency-accepted
  תבנית תרחיש: טווח תדרים בתוך הכללים פותח חקירה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת multichannel עם <changes>
    אז החקירה נפתחת

    דוגמאות:
      | case          | changes                                          |
      | up-to-nyquist | frequencyRange.min = 0; frequencyRange.max = nyquist |
      | narrowest     | frequencyRange.min = 0; frequencyRange.max = 1     |

# language: he
@api @nfft @scope:api-config-nfft @lang-he @readonly
תכונה: אימות NFFT לפי סוג תצוגה
  גודל ה-FFT תלוי בתצוגה: חזקה של 2 מ-32 עד 2048 ל-multichannel, חזקה של 2
  מ-128 עד 65536 ל-singlechannel, ובדיוק 1 ל-waterfall.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-nfft-rejected
  תבנית תרחיש: NFFT שהתצוגה אינה מתירה נדחה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת <view> עם <changes>
    אז הבקשה נדחית עם <status> ומציינת את "nfftSelection"
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case                 | view          | changes                 | status |
      | multi-16             | multichannel  | nfftSelection = 16      | 400    |
      | multi-4096           | multichannel  | nfftSelection = 4096    | 400    |
      | multi-not-power-of-2 | multichannel  | nfftSelection = 1000    | 400    |
      | multi-missing        | multichannel  | nfftSelection = absent  | 400    |
      | multi-null           | multichannel  | nfftSelection = null    | 400    |
      | single-64            | singlechannel | nfftSelection = 64      | 400    |
      | single-131072        | singlechannel | nfftSelection = 131072  | 400    |
      | waterfall-2          | waterfall     | nfftSelection = 2       | 400    |
      | waterfall-1024       | waterfall     | nfftSelection = 1024    | 400    |
      | not-a-number         | multichannel  | nfftSelection = "large" | 422    |
      | fractional           | multichannel  | nfftSelection = 1024.5  | 422    |

  @id:api-nfft-accepted
  תבנית תרחיש: NFFT שהתצוגה מתירה פותח חקירה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת <view> עם <changes>
    אז החקירה נפתחת

    דוגמאות:
      | case         | view          | changes               |
      | multi-32     | multichannel  | nfftSelection = 32    |
      | multi-2048   | multichannel  | nfftSelection = 2048  |
      | single-128   | singlechannel | nfftSelection = 128   |
      | single-65536 | singlechannel | nfftSelection = 65536 |
      | waterfall-1  | waterfall     | nfftSelection = 1     |

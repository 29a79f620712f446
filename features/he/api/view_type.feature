# language: he
@api @view-type @scope:api-config-view-type @lang-he @readonly
תכונה: אימות סוג תצוגה
  סוג התצוגה נשלח כקוד: 0 multichannel, 1 singlechannel, 2 waterfall (גם
  מחרוזת מספרית מתקבלת). קודים אחרים נדחים; שמות הם שגיאת סכמה.

  רקע:
    בהינתן Focus Server עונה
    וגם הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים

  @id:api-view-type-rejected
  תבנית תרחיש: סוג תצוגה מחוץ לקודים נדחה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת multichannel עם <changes>
    אז הבקשה נדחית עם <status> ומציינת את "view_type"
    וגם לא נוצרו אובייקטים של חקירה

    דוגמאות:
      | case        | changes                     | status |
      | heatmaps-3  | view_type = 3               | 400    |
      | negative    | view_type = -1              | 400    |
      | by-name     | view_type = "multichannel"  | 422    |
      | missing     | view_type = absent          | 422    |

  @id:api-view-type-accepted
  תבנית תרחיש: כל קוד של סוג תצוגה פותח חקירה (<case>)
    כאשר מתבקשת חקירה חיה בתצוגת <view> עם <changes>
    אז החקירה נפתחת
    וגם שדות התשובה תואמים לבקשה

    דוגמאות:
      | case           | view          | changes           |
      | multichannel-0 | multichannel  | view_type = 0     |
      | numeric-string | multichannel  | view_type = "0"   |
      | singlechannel-1| singlechannel | view_type = 1     |
      | waterfall-2    | waterfall     | view_type = 2     |

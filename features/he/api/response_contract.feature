# language: he
@api @scope:api-config-response @lang-he @readonly
תכונה: חוזה התשובה של configure
  configure מוצלח עונה בזהות החקירה ובצורת הזרם שלה: הספירות תואמות לרשימות,
  lines_dt הוא המשך חלקי הגובה, לתצוגת singlechannel יש זרם אחד, ו-view_type
  חוזר כמספר שלם.

  רקע:
    בהינתן Focus Server עונה

  @id:api-response-multichannel
  תרחיש: תשובת multichannel תואמת לבקשה שלה
    כאשר נפתחת חקירה חיה בתצוגת multichannel
    אז שדות התשובה תואמים לבקשה

  @id:api-response-singlechannel
  תרחיש: לתשובת singlechannel יש זרם אחד וערוץ אחד
    כאשר נפתחת חקירה חיה בתצוגת singlechannel
    אז שדות התשובה תואמים לבקשה

  @id:api-response-view-type-string
  תרחיש: סוג תצוגה שנשלח כמחרוזת מספרית חוזר כמספר שלם
    כאשר מתבקשת חקירה חיה בתצוגת multichannel עם view_type = "0"
    אז החקירה נפתחת
    וגם שדות התשובה תואמים לבקשה

# language: he
@api @metadata @backlog @scope:api-metadata @lang-he @readonly
תכונה: ה-metadata של חקירה (GET /metadata/{job_id})
  דרישת backlog: ה-metadata של חקירה פתוחה מדווח את זהותה, את פורט הזרם ואת
  ה-stream URL, את סטטוס ה-Job, את התצורה שבה נפתחה ואת המשאבים (פרוסת GPU,
  זיכרון) שה-Job שלה קיבל; job id לא מוכר או מבוטל נענה ב-404 "Invalid job_id".

  רקע:
    בהינתן Focus Server עונה

  @id:api-metadata-describes-investigation
  תרחיש: ה-metadata של חקירה פתוחה מתאר אותה
    כאשר נפתחת חקירה חיה
    וגם ה-metadata שלה מתבקש
    אז ה-metadata מתאר את החקירה

  @id:api-metadata-resources
  תרחיש: ה-metadata של חקירה פתוחה מדווח על המשאבים של ה-Job שלה
    כאשר נפתחת חקירה חיה
    וגם ה-metadata שלה מתבקש
    אז ה-metadata מדווח על פרוסת ה-GPU והזיכרון שה-Job שלה קיבל

  @id:api-metadata-after-cancel
  תרחיש: אחרי ביטול ה-metadata לא נמצא והאובייקטים נעלמו
    כאשר נפתחת חקירה חיה
    וגם החקירה הזו מבוטלת
    וגם ה-metadata שלה מתבקש
    אז ה-metadata לא נמצא
    וגם לא נותר אף אחד מהאובייקטים שלה

  @id:api-metadata-unknown-id
  תרחיש: ה-metadata של job id לא מוכר לא נמצא
    כאשר מתבקש ה-metadata של job id שמעולם לא נפתח
    אז ה-metadata לא נמצא

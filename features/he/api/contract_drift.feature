# language: he
@api @contract @scope:api-config-contract @lang-he @readonly
תכונה: סטייה מהחוזה
  תיאור ה-API שהשרת מפרסם (/openapi.json, של FastAPI) מפרט כל endpoint של
  החוזה וכל שדה של בקשת configure. כל הבדל מדווח.

  @id:api-contract-openapi-matches
  תרחיש: תיאור ה-API המפורסם תואם לחוזה
    כאשר תיאור ה-API המפורסם נשלף
    אז הוא מפרט כל endpoint וכל שדה configure של החוזה

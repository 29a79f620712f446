# language: he
@k8s @lifecycle @destructive @fault:sandbox @scope:k8s-job-lifecycle @lang-he
תכונה: Pods של חקירה שנכשלים
  Job שנכשל נראה כנכשל יחד עם הסיבה: מצב הקונטיינר של ה-Pod אומר למה (image שלא
  ניתן למשוך, קריסה, הריגה בגלל חוסר זיכרון). ה-sandbox גורם ל-Pod של החקירה הבאה
  להיכשל באחת מהדרכים האלה.

  רקע:
    בהינתן Focus Server עונה

  @id:k8s-pod-failure-reason
  תבנית תרחיש: Pod שנכשל מדווח את הסיבה (<case>)
    בהינתן ה-Pod של החקירה הבאה ייכשל עקב <kind>
    כאשר נפתחת חקירה חיה
    אז ה-Pod של החקירה מדווח <reason> בתוך זמן היעד

    דוגמאות:
      | case       | kind       | reason                           |
      | image-pull | image-pull | ErrImagePull or ImagePullBackOff |
      | crash      | crash      | Error                            |
      | oom        | oom        | OOMKilled                        |

//! Metadata (`GET /metadata/{job_id}`, backlog) and contract-drift steps.

use cucumber::{then, when};

use crate::ensure_that;
use crate::spec::contract;
use crate::spec::investigation::check_metadata;
use crate::world::{FocusWorld, Step};

/// A job id in the contract's shape that no server hands out in practice.
const NEVER_OPENED: &str = "999-999999999";

#[when("its metadata is requested")]
#[when("ה-metadata שלה מתבקש")]
async fn metadata_of_current(w: &mut FocusWorld) -> Step {
    let job_id = match (w.opened.last(), w.cancelled.last()) {
        (Some(o), _) => o.job_id.clone(),
        (None, Some(c)) => c.job_id.clone(),
        (None, None) => return Err(anyhow::anyhow!("no investigation in this scenario").into()),
    };
    w.last = Some(w.suite.api.metadata(&job_id).await?);
    Ok(())
}

#[when("the metadata of a job id that was never opened is requested")]
#[when("מתבקש ה-metadata של job id שמעולם לא נפתח")]
async fn metadata_unknown(w: &mut FocusWorld) -> Step {
    w.last = Some(w.suite.api.metadata(NEVER_OPENED).await?);
    Ok(())
}

#[then("the metadata describes the investigation")]
#[then("ה-metadata מתאר את החקירה")]
async fn metadata_describes(w: &mut FocusWorld) -> Step {
    let o = w.current()?;
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == 200,
        "metadata of {} was not answered: {}",
        o.job_id,
        resp.describe()
    );
    let request = crate::spec::investigation::ConfigureRequest::live();
    let v = check_metadata(&o.body, request.json(), &resp.body);
    ensure_that!(
        v.is_empty(),
        "the metadata of {} is wrong: {}",
        o.job_id,
        v.join("; ")
    );
    Ok(())
}

#[then("the metadata reports the GPU slice and memory its Job was given")]
#[then("ה-metadata מדווח על פרוסת ה-GPU והזיכרון שה-Job שלה קיבל")]
async fn metadata_resources(w: &mut FocusWorld) -> Step {
    let v = w.metadata_resources_violations().await?;
    ensure_that!(
        v.is_empty(),
        "the metadata disagrees with the Job: {}",
        v.join("; ")
    );
    Ok(())
}

#[then("the metadata is not found")]
#[then("ה-metadata לא נמצא")]
async fn metadata_not_found(w: &mut FocusWorld) -> Step {
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == 404
            && resp.body.get("error").and_then(|e| e.as_str()) == Some("Invalid job_id"),
        "expected 404 {{\"error\":\"Invalid job_id\"}}: {}",
        resp.describe()
    );
    Ok(())
}

#[when("the published API description is fetched")]
#[when("תיאור ה-API המפורסם נשלף")]
async fn fetch_openapi(w: &mut FocusWorld) -> Step {
    w.last = Some(w.suite.api.openapi().await?);
    Ok(())
}

#[then("it lists every endpoint and configure field of the contract")]
#[then("הוא מפרט כל endpoint וכל שדה configure של החוזה")]
async fn openapi_matches(w: &mut FocusWorld) -> Step {
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == 200,
        "/openapi.json was not served: {}",
        resp.describe()
    );
    let d = contract::drift(&resp.body);
    ensure_that!(
        d.is_empty(),
        "the published API drifts from the contract: {}",
        d.join("; ")
    );
    Ok(())
}

//! Steps shared by every area: the target answers, investigations are opened.

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::spec::investigation::ConfigureRequest;
use crate::world::{FocusWorld, Step};

#[given("Focus Server is answering")]
#[given("Focus Server עונה")]
async fn server_answers(w: &mut FocusWorld) -> Step {
    let ack = w.suite.api.ack().await?;
    ensure_that!(
        ack.status == 200,
        "Focus Server health check failed: {}",
        ack.describe()
    );
    Ok(())
}

#[given("a live investigation is opened")]
#[given("נפתחת חקירה חיה")]
#[when("a live investigation is opened")]
#[when("נפתחת חקירה חיה")]
async fn open_live(w: &mut FocusWorld) -> Step {
    let resp = w.open(ConfigureRequest::live()).await?;
    ensure_that!(
        resp.status == 200,
        "a valid live configure was not accepted: {}",
        resp.describe()
    );
    Ok(())
}

#[given("that investigation is cancelled")]
#[given("החקירה הזו מבוטלת")]
#[when("that investigation is cancelled")]
#[when("החקירה הזו מבוטלת")]
async fn cancel(w: &mut FocusWorld) -> Step {
    w.cancel_current().await?;
    Ok(())
}

#[then("none of its objects remain")]
#[then("לא נותר אף אחד מהאובייקטים שלה")]
async fn nothing_remains(w: &mut FocusWorld) -> Step {
    let o = w.last_cancelled()?.clone();
    if w.suite.config.profile.target.cancel == crate::target::config::CancelMethod::Kubernetes {
        w.check_server_after_deletion(&o).await?;
    }
    // Checked last: nothing of it came back (no orphan pod, no re-created object).
    let left = w.suite.cluster.remaining(&o.objects()).await?;
    ensure_that!(
        left.is_empty(),
        "after cancel these remain: {}",
        left.join(", ")
    );
    Ok(())
}

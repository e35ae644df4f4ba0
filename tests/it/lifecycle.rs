//! The appliance's named tasks: how each one ended is reported when it stops, a panic
//! included (it used to be dropped with the task's result).

use std::time::Duration;

use securityvision::shutdown::{NamedTask, TaskEnd};

#[tokio::test]
async fn a_panicking_task_is_reported_with_its_message() {
    let task = NamedTask::spawn("exploding", async {
        panic!("broken on purpose");
    });
    assert_eq!(task.name(), "exploding");
    match task.join(Duration::from_secs(30)).await {
        TaskEnd::Panicked(message) => assert_eq!(message, "broken on purpose"),
        other => panic!("the panic was not reported: {other:?}"),
    }
    let formatted = NamedTask::spawn("formatted", async {
        panic!("broken after {} readings", 3);
    });
    assert!(
        matches!(formatted.join(Duration::from_secs(30)).await, TaskEnd::Panicked(m) if m == "broken after 3 readings")
    );
}

#[tokio::test]
async fn a_task_that_does_not_stop_is_reported_as_overrunning() {
    let task = NamedTask::spawn("stuck", std::future::pending::<()>());
    assert!(matches!(
        task.join(Duration::from_millis(1)).await,
        TaskEnd::Overran
    ));
}

#[tokio::test]
async fn a_finished_task_hands_back_its_result() {
    let task = NamedTask::spawn("counting", async { 6 * 7 });
    assert!(matches!(
        task.join(Duration::from_secs(30)).await,
        TaskEnd::Finished(42)
    ));
}

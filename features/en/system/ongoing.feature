@system @ongoing @slow @scope:system-ongoing
Feature: Long-running stability
  A system that runs for a long time keeps serving: investigations are opened and
  cancelled for the soak duration (seconds on the sandbox, hours on staging) without
  errors, without latency drifting, with slots and ports returned, nothing left behind,
  and Focus Server never restarting.

  @id:system-soak @exclusive:ports
  Scenario: Open-and-cancel churn for the soak duration leaves the system as it was
    Given Focus Server is answering
    When the system is churned for the soak duration
    Then no request failed during the churn
    And configure latency did not drift
    And freed stream ports were reused
    And nothing the churn opened remains
    And the Focus Server pod did not restart

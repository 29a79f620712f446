@k8s @lifecycle @scope:k8s-job-lifecycle
Feature: Investigation job lifecycle
  Every investigation that Focus Server opens is one Kubernetes Job, with its cleanup
  Job and a NodePort Service, in the Focus Server namespace. The suite follows an
  investigation up to: its Job open, its pod Running, its stream port allocated and
  its stream URL returned. What runs inside the Job is out of scope.

  Background:
    Given Focus Server is answering

  @id:k8s-live-investigation-opens @live @PZ-13899 @PZ-13547
  Scenario: A live investigation opens its Job, pod and stream port
    When a live investigation is opened
    Then the response carries a job id, a stream port and a stream URL
    And the investigation's Job exists under its exact name
    And the investigation's pod is Running within the deadline
    And the investigation's Service exposes the stream port as its node port

  @id:k8s-job-spec @PZ-13899
  Scenario: The investigation's Jobs fail fast and are cleaned up after they finish
    When a live investigation is opened
    Then the investigation's Jobs have the required restart and retention policy
    And the investigation's pod belongs to its Job

  @id:k8s-job-active @PZ-13899
  Scenario: A running investigation's Job is active with no terminal condition
    When a live investigation is opened
    Then the investigation's Job is active with no terminal condition

  @id:k8s-job-fails-when-pod-lost @destructive
  Scenario: An investigation whose pod is lost is seen as failed with its reason
    When a live investigation is opened
    And the investigation's pod is deleted
    Then the investigation's Job fails with reason "BackoffLimitExceeded" within the deadline

  @id:k8s-cancel-removes-everything
  Scenario: Cancelling an investigation removes its Jobs, Service and pods
    When a live investigation is opened
    Then the investigation's Job exists under its exact name
    When that investigation is cancelled
    Then none of its objects remain

  @id:k8s-idle-removed
  Scenario: An investigation nobody connects to is removed once its cleanup Job succeeds
    Given the next investigation's idle time is shortened where the fault driver allows it
    When a live investigation is opened
    Then with no client connected, its cleanup Job succeeds within the idle deadline
    And with no client connected, none of its objects remain within the idle deadline

@k8s @lifecycle
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

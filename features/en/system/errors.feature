@system @errors
Feature: Error scenarios
  What the system does when its inputs are missing: no live stream, no historic data,
  a stream port already taken. Each error is clear, launches nothing half-made, and the
  system recovers when the cause is gone.

  Background:
    Given Focus Server is answering

  @id:system-no-live-stream @exclusive:fiber @fault:live-stream @destructive @live @scope:system-errors-no-live
  Scenario: Without a live stream a live investigation is refused, and it recovers
    Given the live stream is disconnected
    When a live investigation is requested
    Then the request is refused with 503 saying "Live stream unavailable"
    And no investigation objects were created
    And the live metadata says the live stream is unavailable
    When the live stream is reconnected
    And a live investigation is opened
    Then the investigation's pod is Running within the deadline

  @id:system-no-historic-data @exclusive:fiber @exclusive:recordings @fault:sandbox @destructive @historic @scope:system-errors-no-historic
  Scenario: Without historic data a historic investigation is refused
    Given the environment has no recordings
    When a historic investigation is requested for the last day
    Then the request is refused with 404 saying "No recording found in given time range"
    And no investigation objects were created

  @id:system-port-taken @exclusive:ports @fault:kubernetes @destructive @ports @scope:system-errors-port-taken
  Scenario: A taken stream port is skipped and nothing half-made remains
    Given another Service holds the stream port the server would pick next
    When live investigations are opened until one is answered beyond the held port
    Then no investigation got the held port
    And the investigation's Jobs and Service all exist
    And the investigation's Service exposes the stream port as its node port

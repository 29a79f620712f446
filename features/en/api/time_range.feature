@api @time-range @historic @scope:api-validation-time-range @readonly
Feature: Time range validation
  A historic investigation names a window in epoch seconds: both bounds or neither
  (neither means live), start before end, not negative, not in the future, and a window
  with recordings in it. Windows are found through /recordings_in_time_range, never
  hard-coded, so the same scenarios run on every environment.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-time-range-rejected @PZ-13552 @PZ-13759 @PZ-13869 @PZ-13907 @PZ-13909 @PZ-14089 @PZ-13870 @PZ-14018
  Scenario Outline: A window that breaks the rules is rejected (<case>)
    When a historic multichannel investigation is requested with <changes>
    Then the request is rejected with 400 naming "start_time" or "end_time"
    And no investigation objects were created

    Examples:
      | case          | changes                                         |
      | reversed      | start_time = rec.end; end_time = rec.start      |
      | equal         | end_time = rec.start                            |
      | negative      | start_time = -100; end_time = -1                |
      | only-start    | end_time = null                                 |
      | only-end      | start_time = null                               |
      | future        | start_time = now + 3600; end_time = now + 7200  |
      | future-day    | start_time = now + 86400; end_time = now + 86700 |

  @id:api-time-range-malformed @PZ-14018
  Scenario Outline: A window not given in whole epoch seconds is rejected (<case>)
    When a historic multichannel investigation is requested with <changes>
    Then the request is rejected with <status> naming <fields>
    And no investigation objects were created

    Examples:
      | case         | changes                                                  | status | fields                     |
      | string       | start_time = "yesterday"                                 | 422    | "start_time"               |
      | fractional   | end_time = rec.end + 0.5                                 | 422    | "end_time"                 |
      | milliseconds | start_time = rec.start * 1000; end_time = rec.end * 1000 | 400    | "start_time" or "end_time" |

  @id:api-time-range-no-recording @PZ-14019
  Scenario: A window without recordings is refused and launches nothing
    When a historic investigation is requested for the window between recordings
    Then the request is refused with 404 saying "No recording found in given time range"
    And no investigation objects were created

  @id:api-time-range-recorded-window @PZ-13548 @PZ-13863
  Scenario: A window with recordings opens a historic investigation
    When a historic investigation is requested for the recorded window
    Then the investigation is opened
    And the investigation's pod carries the requested time window

@api @frequency @scope:api-config-frequency @readonly
Feature: Frequency range validation
  The frequency range of a multichannel or singlechannel view is required and must
  satisfy 0 ≤ min < max ≤ Nyquist, where Nyquist is half the sampling rate (PRR) of the
  data asked for: the live stream's, from GET /live_metadata.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-frequency-rejected @PZ-13877 @PZ-13903 @PZ-13555 @PZ-14018
  Scenario Outline: A frequency range that breaks the rules is rejected (<case>)
    When a live multichannel investigation is requested with <changes>
    Then the request is rejected with <status> naming "frequencyRange"
    And no investigation objects were created

    Examples:
      | case           | changes                                                   | status |
      | above-nyquist  | frequencyRange.max = nyquist + 1                          | 400    |
      | negative-min   | frequencyRange.min = -1                                   | 400    |
      | min-equals-max | frequencyRange.min = 500; frequencyRange.max = 500        | 400    |
      | min-above-max  | frequencyRange.min = 600; frequencyRange.max = 500        | 400    |
      | missing        | frequencyRange = absent                                   | 400    |
      | null           | frequencyRange = null                                     | 400    |
      | not-a-number   | frequencyRange.max = "high"                               | 422    |

  @id:api-frequency-accepted @PZ-13877 @PZ-13903
  Scenario Outline: A frequency range within the rules opens an investigation (<case>)
    When a live multichannel investigation is requested with <changes>
    Then the investigation is opened

    Examples:
      | case          | changes                                          |
      | up-to-nyquist | frequencyRange.min = 0; frequencyRange.max = nyquist |
      | narrowest     | frequencyRange.min = 0; frequencyRange.max = 1     |

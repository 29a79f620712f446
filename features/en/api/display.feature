@api @display @scope:api-config-display @readonly
Feature: Display parameters validation
  The canvas height must be positive. Multichannel and singlechannel views need a
  positive time-axis duration; a waterfall view has neither a duration nor a frequency
  range. Unknown extra fields are ignored.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-display-rejected @PZ-14018
  Scenario Outline: Display parameters that break the rules are rejected (<case>)
    When a live <view> investigation is requested with <changes>
    Then the request is rejected with <status> naming "<field>"
    And no investigation objects were created

    Examples:
      | case                  | view         | changes                                | status | field                   |
      | height-0              | multichannel | displayInfo.height = 0                 | 400    | displayInfo             |
      | height-negative       | multichannel | displayInfo.height = -1                | 400    | displayInfo             |
      | height-missing        | multichannel | displayInfo = {}                       | 422    | displayInfo             |
      | display-info-missing  | multichannel | displayInfo = absent                   | 422    | displayInfo             |
      | height-not-a-number   | multichannel | displayInfo.height = "tall"            | 422    | displayInfo             |
      | duration-0            | multichannel | displayTimeAxisDuration = 0            | 400    | displayTimeAxisDuration |
      | duration-negative     | multichannel | displayTimeAxisDuration = -1           | 400    | displayTimeAxisDuration |
      | duration-missing      | multichannel | displayTimeAxisDuration = absent       | 400    | displayTimeAxisDuration |
      | duration-null         | multichannel | displayTimeAxisDuration = null         | 400    | displayTimeAxisDuration |
      | waterfall-duration    | waterfall    | displayTimeAxisDuration = 30           | 400    | displayTimeAxisDuration |
      | waterfall-frequency   | waterfall    | frequencyRange = {"min": 0, "max": 100} | 400   | frequencyRange          |

  @id:api-display-accepted @PZ-13873
  Scenario Outline: Display parameters at their limits open an investigation (<case>)
    When a live multichannel investigation is requested with <changes>
    Then the investigation is opened

    Examples:
      | case          | changes                     |
      | height-1      | displayInfo.height = 1      |
      | duration-1    | displayTimeAxisDuration = 1 |
      | unknown-field | colourMap = "viridis"       |

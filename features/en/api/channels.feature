@api @channels @scope:api-config-channels @readonly
Feature: Channel range validation
  A configure request names an inclusive channel range. It must lie within the live
  channel range that GET /channels reports, span at most 2222 channels, and be exactly
  one channel for a singlechannel view. Anything else is rejected, with the field
  named, before any Kubernetes object is created.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-channels-rejected @PZ-13876 @PZ-13554 @PZ-13760 @PZ-14018
  Scenario Outline: A channel range that breaks the rules is rejected (<case>)
    When a live <view> investigation is requested with <changes>
    Then the request is rejected with <status> naming "<field>"
    And no investigation objects were created

    Examples:
      | case                | view          | changes                                             | status | field    |
      | min-below-lowest    | multichannel  | channels.min = lowest - 1                           | 400    | channels |
      | max-above-highest   | multichannel  | channels.min = highest - 10; channels.max = highest + 1 | 400 | channels |
      | negative            | multichannel  | channels.min = -10; channels.max = 50               | 400    | channels |
      | min-above-max       | multichannel  | channels.min = 61; channels.max = 60                | 400    | channels |
      | count-2223          | multichannel  | channels.min = lowest; channels.max = lowest + 2222 | 400    | channels |
      | single-two-channels | singlechannel | channels.min = 7; channels.max = 8                  | 400    | channels |
      | missing             | multichannel  | channels = absent                                   | 422    | channels |
      | min-not-a-number    | multichannel  | channels.min = "one"                                | 422    | channels |
      | max-fractional      | multichannel  | channels.max = 60.5                                 | 422    | channels |

  @id:api-channels-accepted @PZ-13876 @PZ-13560
  Scenario Outline: A channel range within the rules opens an investigation (<case>)
    When a live <view> investigation is requested with <changes>
    Then the investigation is opened

    Examples:
      | case               | view          | changes                                             |
      | lowest-only        | multichannel  | channels.min = lowest; channels.max = lowest        |
      | up-to-highest      | multichannel  | channels.min = highest - 10; channels.max = highest |
      | count-2222         | multichannel  | channels.min = lowest; channels.max = lowest + 2221 |
      | single-one-channel | singlechannel | channels.min = lowest; channels.max = lowest        |

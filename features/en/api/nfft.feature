@api @nfft @scope:api-config-nfft @readonly
Feature: NFFT validation per view type
  The FFT size depends on the view: a power of two from 32 to 2048 for multichannel,
  a power of two from 128 to 65536 for singlechannel, exactly 1 for waterfall.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-nfft-rejected @PZ-13874 @PZ-13875 @PZ-13901 @PZ-14018
  Scenario Outline: An NFFT the view does not allow is rejected (<case>)
    When a live <view> investigation is requested with <changes>
    Then the request is rejected with <status> naming "nfftSelection"
    And no investigation objects were created

    Examples:
      | case                 | view          | changes                 | status |
      | multi-16             | multichannel  | nfftSelection = 16      | 400    |
      | multi-4096           | multichannel  | nfftSelection = 4096    | 400    |
      | multi-not-power-of-2 | multichannel  | nfftSelection = 1000    | 400    |
      | multi-missing        | multichannel  | nfftSelection = absent  | 400    |
      | multi-null           | multichannel  | nfftSelection = null    | 400    |
      | single-64            | singlechannel | nfftSelection = 64      | 400    |
      | single-131072        | singlechannel | nfftSelection = 131072  | 400    |
      | waterfall-2          | waterfall     | nfftSelection = 2       | 400    |
      | waterfall-1024       | waterfall     | nfftSelection = 1024    | 400    |
      | not-a-number         | multichannel  | nfftSelection = "large" | 422    |
      | fractional           | multichannel  | nfftSelection = 1024.5  | 422    |

  @id:api-nfft-accepted @PZ-13874 @PZ-13875
  Scenario Outline: An NFFT the view allows opens an investigation (<case>)
    When a live <view> investigation is requested with <changes>
    Then the investigation is opened

    Examples:
      | case         | view          | changes               |
      | multi-32     | multichannel  | nfftSelection = 32    |
      | multi-2048   | multichannel  | nfftSelection = 2048  |
      | single-128   | singlechannel | nfftSelection = 128   |
      | single-65536 | singlechannel | nfftSelection = 65536 |
      | waterfall-1  | waterfall     | nfftSelection = 1     |

@api @view-type @scope:api-config-view-type @readonly
Feature: View type validation
  The view type is sent by code: 0 multichannel, 1 singlechannel, 2 waterfall (a
  numeric string is accepted too). Other codes are rejected; names are a schema error.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-view-type-rejected @PZ-13878 @PZ-14018
  Scenario Outline: A view type outside the codes is rejected (<case>)
    When a live multichannel investigation is requested with <changes>
    Then the request is rejected with <status> naming "view_type"
    And no investigation objects were created

    Examples:
      | case        | changes                     | status |
      | heatmaps-3  | view_type = 3               | 400    |
      | negative    | view_type = -1              | 400    |
      | by-name     | view_type = "multichannel"  | 422    |
      | missing     | view_type = absent          | 422    |

  @id:api-view-type-accepted @PZ-13878
  Scenario Outline: Each view type code opens an investigation (<case>)
    When a live <view> investigation is requested with <changes>
    Then the investigation is opened
    And the response's fields are consistent with the request

    Examples:
      | case           | view          | changes           |
      | multichannel-0 | multichannel  | view_type = 0     |
      | numeric-string | multichannel  | view_type = "0"   |
      | singlechannel-1| singlechannel | view_type = 1     |
      | waterfall-2    | waterfall     | view_type = 2     |

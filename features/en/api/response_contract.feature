@api @scope:api-config-response @readonly
Feature: Configure response contract
  A successful configure answers the investigation's identity and its stream shape:
  counts match their lists, lines_dt is the duration divided by the height, a
  singlechannel view has one stream, and view_type comes back as an integer.

  Background:
    Given Focus Server is answering

  @id:api-response-multichannel @PZ-13873
  Scenario: A multichannel response is consistent with its request
    When a live multichannel investigation is opened
    Then the response's fields are consistent with the request

  @id:api-response-singlechannel
  Scenario: A singlechannel response has one stream and one channel
    When a live singlechannel investigation is opened
    Then the response's fields are consistent with the request

  @id:api-response-view-type-string
  Scenario: A view type sent as a numeric string comes back as an integer
    When a live multichannel investigation is requested with view_type = "0"
    Then the investigation is opened
    And the response's fields are consistent with the request

@api @readonly
Feature: Live and historic data availability
  A live investigation opens only while the live stream is available; a historic one
  only for a window that has recordings. What /recordings_in_time_range lists agrees
  with what configure accepts: a window that overlaps a recording, even partly, has data.

  Background:
    Given Focus Server is answering
    And the environment's channels, sampling rate and recordings are known

  @id:api-live-data-opens @live @PZ-13547 @PZ-13562 @scope:api-validation-live-data
  Scenario: Live data present: a live investigation opens without a time window
    Given the live stream is available
    When a live multichannel investigation is opened
    Then the investigation is opened
    And the investigation's pod carries no time window

  @id:api-recordings-agree-recorded @historic @PZ-13564 @scope:api-validation-historic-data
  Scenario: The recorded window is listed and accepted
    When the recordings of the recorded window are listed
    Then at least one recording is listed
    When a historic investigation is requested for the recorded window
    Then the investigation is opened

  @id:api-recordings-agree-partial @historic @PZ-13564 @scope:api-validation-historic-data
  Scenario: A window partly overlapping a recording is listed and accepted
    When the recordings of a window partly overlapping a recording are listed
    Then at least one recording is listed
    When a historic investigation is requested for a window partly overlapping a recording
    Then the investigation is opened

  @id:api-recordings-agree-empty @historic @PZ-13564 @PZ-14019 @scope:api-validation-historic-data
  Scenario: A window between recordings is neither listed nor accepted
    When the recordings of the window between recordings are listed
    Then no recording is listed
    When a historic investigation is requested for the window between recordings
    Then the request is refused with 404 saying "No recording found in given time range"
    And no investigation objects were created

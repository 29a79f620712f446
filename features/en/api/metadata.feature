@api @metadata @backlog @PZ-13563 @scope:api-metadata @readonly
Feature: Investigation metadata (GET /metadata/{job_id})
  Backlog requirement: the metadata of an open investigation reports its identity,
  stream port and URL, its job status, the configuration it was opened with and the
  resources (GPU slice, memory) its Job was given; an
  unknown or cancelled job id is answered 404 "Invalid job_id".

  Background:
    Given Focus Server is answering

  @id:api-metadata-describes-investigation
  Scenario: The metadata of an open investigation describes it
    When a live investigation is opened
    And its metadata is requested
    Then the metadata describes the investigation

  @id:api-metadata-resources
  Scenario: The metadata of an open investigation reports the resources of its Job
    When a live investigation is opened
    And its metadata is requested
    Then the metadata reports the GPU slice and memory its Job was given

  @id:api-metadata-after-cancel
  Scenario: After cancel the metadata is not found and the objects are gone
    When a live investigation is opened
    And that investigation is cancelled
    And its metadata is requested
    Then the metadata is not found
    And none of its objects remain

  @id:api-metadata-unknown-id
  Scenario: The metadata of an unknown job id is not found
    When the metadata of a job id that was never opened is requested
    Then the metadata is not found

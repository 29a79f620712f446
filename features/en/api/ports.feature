@api @ports @scope:api-validation-port-free
Feature: Stream port allocation
  Each investigation takes the lowest free slot; its stream port is 12300 + slot and is
  the node port of its Service. Two investigations never share a port, and a port is
  free again once its investigation is gone.

  Background:
    Given Focus Server is answering

  @id:api-ports-distinct
  Scenario: Two investigations never share a stream port
    When two live investigations are opened
    Then their stream ports differ
    And each investigation's Service exposes its stream port as its node port

  @id:api-ports-slot-formula
  Scenario: The stream port follows from the slot in the job id
    When a live investigation is opened
    Then the stream port is the port of the slot in its job id
    And the investigation's Service exposes the stream port as its node port

  @id:api-ports-freed-reused @exclusive:ports
  Scenario: A freed stream port is reused
    Given a live investigation is opened
    And that investigation is cancelled
    When a live investigation is opened
    Then it has the stream port of the cancelled investigation

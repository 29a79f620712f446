@api @ip @scope:api-validation-ip @readonly
Feature: Stream address validation
  Our reading of "IP address validation": the stream URL handed back is http:// and a
  well-formed IP address of a Ready cluster node, and the stream port accepts a TCP
  connection there (the suite never speaks gRPC and sends no bytes). Before anything
  else, the environment's configured addresses resolve and answer.

  Background:
    Given the environment's configured addresses resolve and answer

  @id:api-ip-stream-url-is-ready-node
  Scenario: The stream URL is the address of a Ready node
    When a live investigation is opened
    Then the stream URL is http:// and the IP address of a Ready node

  @id:api-ip-stream-port-reachable
  Scenario: The stream port accepts TCP at the stream address
    When a live investigation is opened
    Then the stream port accepts TCP connections at the stream address within the deadline

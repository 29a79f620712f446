@k8s @resources @readonly
Feature: Investigation resources
  An investigation's Job gets every resource it needs to open: one GPU slice, a memory
  allocation, access to the recordings storage, and a stream port.

  Background:
    Given Focus Server is answering

  @id:k8s-gpu-slice @PZ-13899 @scope:k8s-resources-gpu
  Scenario: One GPU slice is requested and limited
    When a live investigation is opened
    Then the investigation requests and is limited to exactly one GPU slice

  @id:k8s-memory @PZ-13899 @scope:k8s-resources-memory
  Scenario: Memory is requested and limited
    When a live investigation is opened
    Then the investigation has a memory request and limit

  @id:k8s-storage @PZ-13899 @scope:k8s-resources-storage
  Scenario: The recordings storage is mounted
    When a live investigation is opened
    Then the investigation mounts the recordings storage

  @id:k8s-stream-port-reachable @network @scope:k8s-resources-ports
  Scenario: The stream port is allocated as a NodePort and accepts TCP
    When a live investigation is opened
    Then the investigation's Service exposes the stream port as its node port
    And the stream port accepts TCP connections at the stream address within the deadline

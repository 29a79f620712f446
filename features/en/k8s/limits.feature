@k8s @limits @destructive @slow
Feature: System limits
  The PNDS requirement is 200 investigations in parallel. The scenario stays even where
  an environment falls short, and then says how far it got and why it stopped. The
  other limits: latency under load, many clients at once, running out of stream
  ports, and running out of pod IP addresses.

  Background:
    Given Focus Server is answering

  @id:k8s-200-in-parallel @exclusive:capacity @exclusive:gpu @PZ-14088 @scope:k8s-limits-parallel-jobs
  Scenario: The required number of investigations run in parallel
    When the required number of live investigations is opened in parallel
    Then every one of them is Running with a reachable stream port
    And their job ids and stream ports are all distinct

  @id:k8s-latency-slo @exclusive:capacity @network @scope:k8s-limits-network
  Scenario: Configure and pod start latencies stay within their bounds
    When as many live investigations as the latency sample size are opened
    Then the configure latency p99 is within the profile's bound
    And the pod start p99 is within the profile's bound

  @id:k8s-concurrent-clients @exclusive:capacity @network @scope:k8s-limits-network
  Scenario: Many clients configuring at the same moment are all served
    When the configured number of clients each open a live investigation at the same moment
    Then every client's investigation was accepted
    And their job ids and stream ports are all distinct

  @id:k8s-stream-ports-exhausted @exclusive:ports @network @ports @fault:kubernetes @scope:k8s-limits-resources
  Scenario: With every stream port taken the next investigation is refused cleanly
    Given every free stream port is held by another Service
    When a live investigation is requested
    Then the request is refused with 503 saying "No free stream port"
    And no investigation objects were created

  @id:k8s-pod-ips-exhausted @network @fault:sandbox @exclusive:nodes @scope:k8s-limits-network
  Scenario: With no pod IP address left the next investigation's pod says why it cannot start
    Given no pod IP address is left on any node
    When a live investigation is requested
    Then the investigation's pod reports FailedCreatePodSandBox naming no IP addresses within the deadline

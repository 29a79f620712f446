@k8s @limits @destructive @fault:kubernetes @scope:k8s-limits-resources
Feature: Resource constraints
  When the cluster runs out of what an investigation needs, the next investigation is
  refused clearly or reports, in the cluster's own words, what it waits for; the
  investigations already open are unaffected.

  Background:
    Given Focus Server is answering
    And a live investigation is opened
    And the investigation's pod is Running within the deadline

  @id:k8s-quota-refuses @exclusive:gpu
  Scenario: A ResourceQuota leaving no GPU slice refuses the next investigation clearly
    Given a ResourceQuota leaves no room for another GPU slice
    When a live investigation is requested
    Then the investigation is refused clearly, by the API or by its Job naming the quota
    And the earlier investigation is still Running

  @id:k8s-gpu-exhausted @exclusive:gpu @resources
  Scenario: With every GPU slice taken the next investigation's pod says why it waits
    Given every free GPU slice is taken
    When a live investigation is requested
    Then the investigation's pod reports FailedScheduling naming the GPU slice within the deadline
    And the earlier investigation is still Running

  @id:k8s-nodes-cordoned @exclusive:nodes
  Scenario: With every node cordoned the next investigation's pod says it cannot be scheduled
    Given every node is cordoned
    When a live investigation is requested
    Then the investigation's pod reports FailedScheduling naming unschedulable nodes within the deadline
    And the earlier investigation is still Running

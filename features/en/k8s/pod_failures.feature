@k8s @lifecycle @destructive @fault:sandbox @scope:k8s-job-lifecycle
Feature: Failing investigation pods
  A Job that fails is seen as failed with its reason: the pod's container state says
  why (an image that cannot be pulled, a crash, an out-of-memory kill). The sandbox
  makes the next investigation's pod fail one of these ways.

  Background:
    Given Focus Server is answering

  @id:k8s-pod-failure-reason
  Scenario Outline: A failing pod reports its reason (<case>)
    Given the next investigation's pod is made to fail by <kind>
    When a live investigation is opened
    Then the investigation's pod reports <reason> within the deadline

    Examples:
      | case       | kind       | reason                           |
      | image-pull | image-pull | ErrImagePull or ImagePullBackOff |
      | crash      | crash      | Error                            |
      | oom        | oom        | OOMKilled                        |

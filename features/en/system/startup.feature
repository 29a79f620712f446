@system @startup @scope:system-startup
Feature: Clean startup
  An environment that first comes up clean brings up its first investigation ("bring up
  Baby"). Where the environment is exclusive to the run (the sandbox, a dedicated DEV) it
  must hold no investigation but the run's; on a shared environment the scenario checks
  what it can claim and reports the investigations of others without touching them.

  @id:system-clean-startup @exclusive:capacity @readonly
  Scenario: A clean environment brings up its first investigation
    Given Focus Server is answering
    And the Focus Server pod is Running without restarts
    And the environment holds no investigation but ours, or reports the others when it is shared
    When a live investigation is opened
    Then the investigation's pod is Running within the deadline
    And the investigations of others present before are untouched

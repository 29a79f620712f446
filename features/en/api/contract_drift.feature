@api @contract @scope:api-config-contract @readonly
Feature: Contract drift
  The API description the server publishes (/openapi.json, FastAPI's) lists every
  endpoint of the contract and every field of the configure request. Each difference
  is reported.

  @id:api-contract-openapi-matches
  Scenario: The published API description matches the contract
    When the published API description is fetched
    Then it lists every endpoint and configure field of the contract

-- Argo CD health of a partnercenter.partnercart.dev/PartnerCart (docs/gitops.md#argo-cd).
-- Runs without Lua's standard libraries (argocd-cm health scripts do, unless useOpenLibs):
-- only base and table functions are used.
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c == nil then
    return ""
  end
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

-- Not looked at yet (observedGeneration is -1 until the operator writes status), or an edit
-- the operator has not reconciled: nothing in status describes this generation. The operator
-- stamps every generation it reconciled, whatever it then waits for or retries, so this is
-- only a cart the operator has not seen (not installed, not watching the namespace, down).
local generation = obj.metadata.generation
if obj.status == nil or obj.status.observedGeneration == nil or generation == nil
    or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- A terminal state: only a person can move it on (line-item errors, a refused or unknown
-- checkout, failed orders, a previous purchase, a denial).
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

-- Work in flight or retried (credentials missing or refused, throttled, Partner Center
-- unavailable, checking out, provisioning). Ready carries the reason and message (it differs
-- from Reconciling's only while a deletion waits for a checkout outcome, and says so).
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  if ready ~= nil then
    hs.message = describe(ready)
  else
    hs.message = describe(reconciling)
  end
  return hs
end

-- Waiting for a person, nothing in flight: synced and quoted, waiting for spec.approval (or a
-- price limit, a pinned hash, the purchase freeze), or paused by the annotation
-- partnercenter.partnercart.dev/paused. Not work in progress, not a failure.
if obj.status.phase == "AwaitingApproval" or (ready ~= nil and ready.reason == "Paused") then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Reconciling"
end
return hs

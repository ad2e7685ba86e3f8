-- Argo CD health of a partnercenter.partnercart.dev/PartnerCart.
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
-- the operator has not reconciled: nothing in status describes this generation.
local generation = obj.metadata.generation
if obj.status == nil or obj.status.observedGeneration == nil or generation == nil
    or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- A terminal state: only a person can move it on (line-item errors, a refused or unknown
-- checkout, failed orders, a previous purchase, bad credentials).
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

-- Synced and quoted, nothing bought: it waits for spec.approval (or a price limit, a pinned
-- hash, the purchase freeze). A person must act, so it is not work in progress.
if obj.status.phase == "AwaitingApproval" then
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

-- Argo CD health of a partnercenter.partnercart.dev/PartnerCenterAccount (docs/gitops.md#argo-cd).
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

-- Not proved yet: observedGeneration is -1 until the operator signs in with the account, and
-- an edit is not proved until the operator tried it.
local generation = obj.metadata.generation
if obj.status == nil or obj.status.observedGeneration == nil or generation == nil
    or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- Refused: the Secret is missing or incomplete, outside the credentials namespace, or Entra ID
-- refused the credentials (the message has its AADSTS code). A person must fix the account or
-- its Secret; the carts using it wait meanwhile.
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

-- Entra ID issued a token with the account's credentials.
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

-- Retried: the token endpoint was unavailable.
hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Reconciling"
end
return hs

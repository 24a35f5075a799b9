-- wrk script: each request creates a new order (unique partnerOrderId), so
-- the benchmark measures creates, not existing-record lookups.
-- Reads SECRET_TOKEN, CUSTOMER_ID and PRICE_ID from the environment.
local counter = 0
local thread_id = 0
local token = os.getenv("SECRET_TOKEN")
local customer = os.getenv("CUSTOMER_ID")
local price = os.getenv("PRICE_ID")

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"items":[{"priceId":%s,"quantity":1}],"paymentGateway":"NICE","customerId":%s,' ..
    '"amount":10000,"amountReturned":0,"partnerOrderId":"bench-%s-%d-%d","paymentFailed":true}',
    price, customer, os.time(), thread_id, counter)
  return wrk.format("POST", "/api/v1/cover/order",
    { ["Content-Type"] = "application/json", ["Secret-Token"] = token }, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.stderr:write(string.format("non-2xx responses: %d\n", non2xx))
end

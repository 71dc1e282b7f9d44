
def test_smoke(client, sandbox):
    rows = list(client.query_iter("SELECT Id, Name, ARR__c FROM Account WHERE ARR__c >= 10010 AND Name LIKE 'Company 1%' ORDER BY ARR__c DESC LIMIT 5"))
    print(rows)
    print(client.daily_budget())
    print(client.describe("Account")["fields"][5])
    r = client.update_collection([{"attributes": {"type": "Account"}, "Id": rows[0]["Id"], "ARR__c": "abc"}, {"attributes": {"type": "Account"}, "Id": rows[1]["Id"], "ARR__c": 5}])
    print(r)
    print(sandbox.calls())

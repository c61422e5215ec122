"""Writes benign.jsonl: 1,200 ordinary API requests (names with apostrophes, prose with SQL
words, search terms, markdown, JWTs, base64, JSON in JSON, URLs, non-Latin text) that request
inspection must let through at paranoia 1. Deterministic (seeded); run it to regenerate."""
import json, random, base64, urllib.parse, uuid
random.seed(20261206)
names = ["O'Brien", "D'Angelo", "Mary-Jane O'Connor", "José Álvarez", "Zoë Saldaña", "李小龙", "Мария Иванова", "محمد علي", "Ngozi Okonjo-Iweala", "Åsa Öberg", "Jean-Luc Picard", "Dr. Ruth K. Westheimer", "Bobby Tables", "Seán Ó Briain", "Renée Zellweger", "Ханна Шмидт", "佐藤 健", "김민준", "Nguyễn Văn An", "Padmé Amidala", "Chloë Grace", "Anne-Marie Duff", "Eoin O'Neill", "Søren Kierkegaard", "Ólafur Arnalds"]
prose = [
 "Please select the best option from the list below and click submit.",
 "We met at Union Station and then walked to the union hall.",
 "Drop me a line when you get back from the conference.",
 "I'd like to update my shipping address, please.",
 "Where can I find the order history from last year?",
 "Insert the tab into the slot, then fold along the line.",
 "The script for the school play is due on Friday.",
 "Our alert system sends a notice when the temperature drops below 5 °C.",
 "Can you delete the duplicate entries from my account?",
 "Order by date or by price? Either works for me.",
 "She said \"yes\" and then left; I was surprised.",
 "It's a 2-for-1 deal: buy one, get one free (limited time).",
 "Rock 'n' roll is here to stay, or so they say.",
 "The price is $19.99 + tax, i.e. about 21 euros.",
 "One quarter (24%) of respondents said they would switch.",
 "Meeting notes: 1) budget 2) hiring 3) roadmap -- see attached.",
 "If x > 3 and y < 5 then the result is between 3 and 5.",
 "Use the command line to run the tests, then commit your changes.",
 "I can't log in since yesterday; the page says my session expired.",
 "Thanks!! Great job on the release :) #shipit",
 "The table has four legs and a glass top; the chair is oak.",
 "Have you read 'The Catcher in the Rye'? It's a classic.",
 "Don't forget: the deadline is 5pm EST, not 5pm PST.",
 "Our cat's name is Null and our dog's name is Undefined.",
 "Please cancel my subscription and refund the last payment.",
 "When will the new version be available for download?",
 "My password manager says the form is not secure, why?",
 "The recipe calls for 2 cups of flour & 1 cup of sugar.",
 "He's from Cork; she's from Galway; they met in Dublin.",
 "Is 'select all' supposed to include archived items too?",
 "This function returns the sum of a and b (integers only).",
 "Email me at the address on file or call +1 (555) 010-2030.",
 "Temperatures: Mon 12°C, Tue 14°C, Wed 9°C; rain expected.",
 "The union of two sets A and B contains every element of either.",
 "To exit vim, press Esc then type :wq and hit enter.",
 "Her blog post 'Why I left Big Tech' went viral last week.",
 "SELECT is a keyword in SQL; so are FROM and WHERE.",
 "We're hiring: backend engineer (Rust/Go), remote-friendly.",
 "The wifi password is on the fridge, next to the calendar.",
 "Great product, 5 stars!!! Would buy again :-)",
 "我们明天下午三点在会议室见面。",
 "Спасибо за быструю доставку, всё пришло в целости.",
 "مرحبا، أود الاستفسار عن حالة طلبي رقم ١٢٣٤.",
 "東京タワーの近くにある美味しいラーメン屋を教えてください。",
 "Das Meeting ist am Dienstag um 10 Uhr; bitte pünktlich sein.",
 "¿Dónde está la estación de tren más cercana?",
 "Weather today ☀️ 24°C — perfect for a picnic 🧺",
 "The ratio 3:2 is common for photos; 16:9 for video.",
 "Note: items marked with * are required.",
 "a > b, b > c, therefore a > c.",
]
search_terms = ["O'Reilly books", "union square", "select comfort mattress", "drop shipping", "insert coin", "update firmware", "delete account", "order status", "table lamp", "from here to eternity", "where the wild things are", "null pointer exception", "javascript tutorial", "script writing course", "alert dog breeds", "python list comprehension", "rust borrow checker", "sql join types explained", "how to use group by", "c++ templates", "node.js streams", "best cat food", "1 + 1", "100% cotton shirt", "5' 11\" in cm", "AT&T store", "Q&A session", "rock & roll", "salt & pepper", "fish 'n' chips", "what is 2^10", "email@example.com", "#hashtag", "@mention", "C# vs Java", "R&D budget", "<3 emoji", "tom & jerry", "love/hate", "semi;colon", "a-b-c", "foo_bar baz", "~/Documents", "cats OR dogs", "coffee AND tea", "price < 100", "size >= 10", "\"exact phrase\"", "-excluded term", "weather in São Paulo", "北京 天气", "москва погода"]
markdown = [
 "# Release notes\n\n* Fixed the login bug\n* Added **dark mode**\n\n```bash\ncargo build --release\n```",
 "## Setup\n1. Install Rust\n2. Run `cargo test`\n3. Read the [docs](https://example.com/docs)",
 "> Quote of the day: *stay curious*\n\n- item one\n- item two",
 "| name | value |\n|------|-------|\n| a | 1 |\n| b | 2 |",
 "Use `let x = vec![1, 2, 3];` to make a vector.",
 "Links: [home](https://example.com) and ![logo](https://example.com/logo.png)",
 "**Bold**, _italic_, ~~strike~~ and `code`.",
 "```json\n{\"key\": \"value\", \"list\": [1, 2, 3]}\n```",
 "Steps:\n- [x] design\n- [ ] build\n- [ ] ship",
 "Footnote[^1]\n\n[^1]: see appendix A.",
]
uas = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
 "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
 "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
 "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
 "curl/8.11.0", "python-requests/2.32.3", "okhttp/4.12.0", "Go-http-client/2.0", "PostmanRuntime/7.42.0", "axios/1.7.9"]
def jwt():
    h = base64.urlsafe_b64encode(json.dumps({"alg":"EdDSA","typ":"JWT","kid":uuid.uuid4().hex[:8]}).encode()).rstrip(b"=").decode()
    p = base64.urlsafe_b64encode(json.dumps({"sub":str(uuid.uuid4()),"iat":1765000000+random.randint(0,99999),"scope":"read write"}).encode()).rstrip(b"=").decode()
    s = base64.urlsafe_b64encode(random.randbytes(64)).rstrip(b"=").decode()
    return f"{h}.{p}.{s}"
def b64():
    return base64.b64encode(random.randbytes(random.randint(12, 300))).decode()
def url():
    return random.choice(["https://example.com/path?a=1&b=two", "https://www.example.org/blog/2026/12/post-title/", "http://localhost:3000/callback", "https://cdn.example.net/img/photo_123.jpg?w=800&h=600", "https://maps.example.com/?q=48.8584,2.2945", "https://example.com/search?q=union+station&page=2", "mailto:jane@example.com", "https://example.com/a/b/c#section-2"])
def val():
    k = random.random()
    if k < 0.2: return random.choice(prose)
    if k < 0.32: return random.choice(names)
    if k < 0.45: return random.choice(search_terms)
    if k < 0.52: return random.choice(markdown)
    if k < 0.57: return jwt()
    if k < 0.62: return b64()
    if k < 0.67: return url()
    if k < 0.72: return json.dumps({"nested": {"a": random.choice(prose), "n": random.randint(0, 9999)}})
    if k < 0.77: return str(uuid.uuid4())
    if k < 0.82: return f"{random.randint(1,28):02d}/{random.randint(1,12):02d}/2026"
    if k < 0.87: return random.choice(["+1 (555) 010-2030", "+44 20 7946 0958", "555-0100", "(0)30 1234567"])
    if k < 0.92: return random.choice(["12 O'Connell St., Dublin 1", "1600 Amphitheatre Pkwy, Mountain View, CA", "Rue de Rivoli 75001 Paris", "東京都千代田区1-1"])
    return str(random.choice([42, 3.14, -17, 1e6, 0, 2026]))
fields = ["q", "name", "comment", "description", "title", "note", "message", "search", "bio", "address", "query", "text", "body", "subject", "city", "tag", "filter", "label", "content", "summary"]
paths = ["/api/v1/items", "/api/v1/users/{id}", "/api/v1/orders", "/api/v1/search", "/api/v1/comments", "/api/v1/profile", "/api/v1/posts/{id}/comments", "/api/v1/products/{id}", "/api/v1/tickets", "/api/v1/messages"]
out = []
def headers():
    h = [["User-Agent", random.choice(uas)], ["Accept", random.choice(["application/json", "*/*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"])]]
    if random.random() < 0.5: h.append(["Accept-Language", random.choice(["en-US,en;q=0.9", "de-DE,de;q=0.8,en;q=0.5", "zh-CN,zh;q=0.9", "fr-FR"])])
    if random.random() < 0.4: h.append(["Referer", url()])
    if random.random() < 0.4: h.append(["Cookie", f"session={base64.urlsafe_b64encode(random.randbytes(24)).decode()}; theme=dark; lang=en"])
    if random.random() < 0.3: h.append(["Authorization", f"Bearer {jwt()}"])
    if random.random() < 0.2: h.append(["X-Request-Id", str(uuid.uuid4())])
    return h
while len(out) < 1200:
    path = random.choice(paths).replace("{id}", str(random.randint(1, 99999)))
    kind = random.random()
    if kind < 0.4:
        params = {f: val() for f in random.sample(fields, random.randint(1, 3))}
        if random.random() < 0.3: params["page"] = str(random.randint(1, 50)); params["sort"] = random.choice(["id", "name", "-created_at", "price"]); params["order"] = random.choice(["asc", "desc"])
        out.append({"method": "GET", "uri": path + "?" + urllib.parse.urlencode(params), "headers": headers(), "body": None})
    elif kind < 0.8:
        body = {f: val() for f in random.sample(fields, random.randint(1, 5))}
        if random.random() < 0.3: body["items"] = [{"sku": f"SKU-{random.randint(100,999)}", "qty": random.randint(1, 5), "note": val()} for _ in range(random.randint(1, 3))]
        if random.random() < 0.2: body["metadata"] = json.dumps({"source": "web", "ref": url()})
        h = headers() + [["Content-Type", "application/json"]]
        out.append({"method": random.choice(["POST", "PUT", "PATCH"]), "uri": path, "headers": h, "body": json.dumps(body, ensure_ascii=False)})
    elif kind < 0.93:
        body = {f: val() for f in random.sample(fields, random.randint(1, 4))}
        h = headers() + [["Content-Type", "application/x-www-form-urlencoded"]]
        out.append({"method": "POST", "uri": path, "headers": h, "body": urllib.parse.urlencode(body)})
    else:
        fn = random.choice(["report (final).pdf", "photo_2026-12-06.jpg", "résumé.docx", "data.csv", "Q3 budget v2.xlsx", "notes.md", "scan 001.png", "архив.zip"])
        b = "----form" + uuid.uuid4().hex[:12]
        desc = val()
        body = f"--{b}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n{desc}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{fn}\"\r\nContent-Type: application/octet-stream\r\n\r\nbinarydata\r\n--{b}--\r\n"
        h = headers() + [["Content-Type", f"multipart/form-data; boundary={b}"]]
        out.append({"method": "POST", "uri": path + "/attachments", "headers": h, "body": body})
with open(__file__.replace("benign_gen.py", "benign.jsonl"), "w", encoding="utf-8") as f:
    for r in out:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(out))

// Calls the guarded app over HTTP and reports what each request got.
async function check(app, { good, narrow }) {
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${server.address().port}/v1/reports`;
  const call = async (key) => {
    const res = await fetch(base, key ? { headers: { authorization: `Bearer ${key}` } } : {});
    return { status: res.status, body: await res.json(), limit: res.headers.get('x-ratelimit-limit-requests') };
  };
  const result = {
    ok: await call(good),
    second: await call(good),
    third: await call(good),
    narrow: await call(narrow),
    missing: await call(null),
    wrong: await call(`${good.slice(0, -8)}AAAAAAAA`),
  };
  server.close();
  return result;
}
module.exports = { check };

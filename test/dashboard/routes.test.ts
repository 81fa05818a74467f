/** The route table the sweeps use lists exactly the routes the dashboard declares. */
import { createDashboard } from '../../src/dashboard/dashboard-router';
import { createTestContext, type TestContext } from '../helpers/context';
import { declaredRoutes, ROUTES } from './routes';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

test('every declared dashboard route is in the sweep table, and nothing else', () => {
  const declared = declaredRoutes(createDashboard(t.ctx).router).sort();
  const table = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
  expect(declared.length).toBeGreaterThan(30);
  expect(table).toEqual(declared);
});

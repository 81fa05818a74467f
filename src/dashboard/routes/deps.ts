import type { AppContext } from '../../context';
import type { Pages } from '../pages';

/** What every dashboard route module receives. */
export interface DashboardDeps {
  ctx: AppContext;
  pages: Pages;
}

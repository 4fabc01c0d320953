/** The web UI's entry point: reads `#token=`, then renders the app (web/src/app.tsx). */
import { render } from 'preact';
import { App } from './app.tsx';
import { takeTokenFromFragment } from './session.ts';

takeTokenFromFragment();
const root = document.getElementById('app');
if (root !== null) render(<App />, root);

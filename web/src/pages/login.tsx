/** The login page: a token (from `dabba token create`, or DATA_DIR/admin.token) and "remember me". */
import { useState } from 'preact/hooks';
import { ErrorLine } from '../components/widgets.tsx';

export function Login(props: {
  error: string | undefined;
  onLogin: (token: string, remember: boolean) => void;
}) {
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  return (
    <main class="login" id="main">
      <h1>Dabba</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim() !== '') props.onLogin(token.trim(), remember);
        }}
      >
        <label for="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <p class="hint">
          A token from <code>dabba token create NAME --role viewer</code>, or the admin token in the server's{' '}
          <code>DATA_DIR/admin.token</code>. <code>/ui/#token=T</code> signs in directly.
        </p>
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} />
          Remember on this browser
        </label>
        <ErrorLine error={props.error} />
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}

/**
 * Asking before a destructive step: a modal <dialog> (focus moves into it, Escape cancels)
 * that shows what will be lost and resolves true only on the explicit "yes".
 */
import { h } from './dom.js';
import { t } from './i18n.js';

export function ask(lines: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const no = h('button', { type: 'button', class: 'secondary' }, t('confirm.no'));
    const yes = h('button', { type: 'button', class: 'danger' }, t('confirm.yes'));
    const dialog = h(
      'dialog',
      { class: 'ask', 'aria-modal': 'true' },
      ...lines.map((l) => h('p', {}, l)),
      h('div', { class: 'buttons' }, no, yes),
    );
    const done = (answer: boolean): void => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    no.addEventListener('click', () => done(false));
    yes.addEventListener('click', () => done(true));
    dialog.addEventListener('cancel', () => done(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

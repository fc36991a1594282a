/** The parameter form: one labelled control per parameter, its error beside it. */
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Parameter } from './api';
import { h, replace } from './dom';
import { changedParameters, collectParameters, Field, formFields } from './logic';

let formCount = 0;

/** A form over `parameters`; `read()` gives the values or shows the errors. */
export class ParameterForm {
  readonly node: HTMLFormElement;
  private readonly fields: Field[];
  private readonly inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  private readonly errors = new Map<string, HTMLElement>();

  constructor(parameters: Parameter[], trans: TranslationBundle) {
    this.fields = formFields(parameters);
    const id = `jp-LeptonLab-form-${++formCount}`;
    this.node = h('form', {
      class: 'jp-LeptonLab-form',
      'aria-label': trans.__('Parameters')
    });
    this.node.addEventListener('submit', event => event.preventDefault());
    if (this.fields.length === 0) {
      this.node.appendChild(
        h('p', { class: 'jp-LeptonLab-muted' }, trans.__('No parameters.'))
      );
    }
    for (const field of this.fields) {
      const inputId = `${id}-${field.name}`;
      const input = this.control(field, inputId);
      const error = h('span', {
        class: 'jp-LeptonLab-fieldError',
        id: `${inputId}-error`,
        role: 'alert'
      });
      input.setAttribute('aria-describedby', `${inputId}-help ${inputId}-error`);
      // An error stays until the value changes.
      input.addEventListener('input', () => {
        replace(error);
        input.setAttribute('aria-invalid', 'false');
      });
      this.inputs.set(field.name, input);
      this.errors.set(field.name, error);
      this.node.appendChild(
        h(
          'div',
          { class: 'jp-LeptonLab-field', 'data-parameter': field.name },
          h('label', { for: inputId }, field.label, field.required ? ' *' : ''),
          input,
          h(
            'span',
            { class: 'jp-LeptonLab-help', id: `${inputId}-help` },
            field.help || field.type
          ),
          error
        )
      );
    }
  }

  private control(field: Field, id: string): HTMLInputElement | HTMLSelectElement {
    if (field.input === 'select') {
      return h(
        'select',
        { id, name: field.name, class: 'jp-mod-styled' },
        field.choices.map(c =>
          h('option', { value: c, selected: c === field.initial }, c)
        )
      );
    }
    if (field.input === 'checkbox') {
      return h('input', {
        id,
        name: field.name,
        type: 'checkbox',
        checked: field.checked
      });
    }
    return h('input', {
      id,
      name: field.name,
      type: 'text',
      class: 'jp-mod-styled',
      value: field.initial,
      inputmode:
        field.input === 'integer' || field.input === 'number' ? 'decimal' : undefined,
      required: field.required
    });
  }

  /** The parameters that differ from the defaults, or null after showing the errors. */
  read(): Record<string, unknown> | null {
    const raws: Record<string, string | boolean> = {};
    for (const [name, input] of this.inputs) {
      raws[name] =
        input instanceof HTMLInputElement && input.type === 'checkbox'
          ? input.checked
          : input.value;
    }
    const { values, errors } = collectParameters(this.fields, raws);
    this.showErrors(errors);
    return Object.keys(errors).length ? null : changedParameters(this.fields, values);
  }

  /** Shows `errors` by field name (the server's too); clears the others. */
  showErrors(errors: Record<string, string>): void {
    for (const [name, node] of this.errors) {
      replace(node, errors[name] ?? '');
      this.inputs
        .get(name)
        ?.setAttribute('aria-invalid', errors[name] ? 'true' : 'false');
    }
  }

  /** Puts a server's message against the field it names, if it names one. */
  showServerError(message: string): boolean {
    for (const field of this.fields) {
      if (new RegExp(`\\b${field.name}\\b`).test(message)) {
        this.showErrors({ [field.name]: message });
        return true;
      }
    }
    return false;
  }
}
